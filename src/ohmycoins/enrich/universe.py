"""The asset vocabulary the tagger knows when the assets table is still empty.

`DEFAULT_ASSETS` lists about a hundred large coins as CoinGecko ids, symbols and
names. `ALIASES` adds the other names the press uses for some of them ("Ripple" for
XRP, "Harmony" for ONE). `STOP_SYMBOLS` are tickers that are also ordinary words
("one", "link", "gas fees"): they count only in clear ticker form, see `tagging`.
"""

from __future__ import annotations

from ohmycoins.records import Asset

__all__ = ["ALIASES", "COMMON_WORD_NAMES", "DEFAULT_ASSETS", "STOP_SYMBOLS", "default_assets"]

DEFAULT_ASSETS: tuple[tuple[str, str, str], ...] = (
    ("bitcoin", "BTC", "Bitcoin"),
    ("ethereum", "ETH", "Ethereum"),
    ("tether", "USDT", "Tether"),
    ("binancecoin", "BNB", "BNB"),
    ("solana", "SOL", "Solana"),
    ("ripple", "XRP", "XRP"),
    ("usd-coin", "USDC", "USD Coin"),
    ("cardano", "ADA", "Cardano"),
    ("dogecoin", "DOGE", "Dogecoin"),
    ("tron", "TRX", "TRON"),
    ("the-open-network", "TON", "Toncoin"),
    ("avalanche-2", "AVAX", "Avalanche"),
    ("shiba-inu", "SHIB", "Shiba Inu"),
    ("polkadot", "DOT", "Polkadot"),
    ("chainlink", "LINK", "Chainlink"),
    ("bitcoin-cash", "BCH", "Bitcoin Cash"),
    ("near", "NEAR", "NEAR Protocol"),
    ("matic-network", "MATIC", "Polygon"),
    ("litecoin", "LTC", "Litecoin"),
    ("uniswap", "UNI", "Uniswap"),
    ("dai", "DAI", "Dai"),
    ("internet-computer", "ICP", "Internet Computer"),
    ("pepe", "PEPE", "Pepe"),
    ("ethereum-classic", "ETC", "Ethereum Classic"),
    ("aptos", "APT", "Aptos"),
    ("stellar", "XLM", "Stellar"),
    ("monero", "XMR", "Monero"),
    ("cosmos", "ATOM", "Cosmos Hub"),
    ("okb", "OKB", "OKB"),
    ("filecoin", "FIL", "Filecoin"),
    ("hedera-hashgraph", "HBAR", "Hedera"),
    ("crypto-com-chain", "CRO", "Cronos"),
    ("arbitrum", "ARB", "Arbitrum"),
    ("mantle", "MNT", "Mantle"),
    ("vechain", "VET", "VeChain"),
    ("optimism", "OP", "Optimism"),
    ("kaspa", "KAS", "Kaspa"),
    ("injective-protocol", "INJ", "Injective"),
    ("render-token", "RNDR", "Render"),
    ("immutable-x", "IMX", "Immutable"),
    ("the-graph", "GRT", "The Graph"),
    ("sui", "SUI", "Sui"),
    ("aave", "AAVE", "Aave"),
    ("maker", "MKR", "Maker"),
    ("algorand", "ALGO", "Algorand"),
    ("thorchain", "RUNE", "THORChain"),
    ("theta-token", "THETA", "Theta Network"),
    ("fantom", "FTM", "Fantom"),
    ("lido-dao", "LDO", "Lido DAO"),
    ("quant-network", "QNT", "Quant"),
    ("fetch-ai", "FET", "Fetch.ai"),
    ("bittensor", "TAO", "Bittensor"),
    ("sei-network", "SEI", "Sei"),
    ("flow", "FLOW", "Flow"),
    ("the-sandbox", "SAND", "The Sandbox"),
    ("decentraland", "MANA", "Decentraland"),
    ("axie-infinity", "AXS", "Axie Infinity"),
    ("gala", "GALA", "GALA"),
    ("elrond-erd-2", "EGLD", "MultiversX"),
    ("tezos", "XTZ", "Tezos"),
    ("eos", "EOS", "EOS"),
    ("chiliz", "CHZ", "Chiliz"),
    ("apecoin", "APE", "ApeCoin"),
    ("neo", "NEO", "NEO"),
    ("kucoin-shares", "KCS", "KuCoin"),
    ("iota", "IOTA", "IOTA"),
    ("bitcoin-cash-sv", "BSV", "Bitcoin SV"),
    ("curve-dao-token", "CRV", "Curve DAO"),
    ("pancakeswap-token", "CAKE", "PancakeSwap"),
    ("zcash", "ZEC", "Zcash"),
    ("dash", "DASH", "Dash"),
    ("synthetix-network-token", "SNX", "Synthetix"),
    ("compound-governance-token", "COMP", "Compound"),
    ("1inch", "1INCH", "1inch"),
    ("oasis-network", "ROSE", "Oasis Network"),
    ("beam-2", "BEAM", "Beam"),
    ("harmony", "ONE", "Harmony"),
    ("gas", "GAS", "Gas"),
    ("mask-network", "MASK", "Mask Network"),
    ("holotoken", "HOT", "Holo"),
    ("terra-luna-2", "LUNA", "Terra"),
    ("terra-luna", "LUNC", "Terra Luna Classic"),
    ("stacks", "STX", "Stacks"),
    ("celestia", "TIA", "Celestia"),
    ("jupiter-exchange-solana", "JUP", "Jupiter"),
    ("dogwifcoin", "WIF", "dogwifhat"),
    ("bonk", "BONK", "Bonk"),
    ("floki", "FLOKI", "FLOKI"),
    ("worldcoin-wld", "WLD", "Worldcoin"),
    ("pyth-network", "PYTH", "Pyth Network"),
    ("ondo-finance", "ONDO", "Ondo"),
    ("ethena", "ENA", "Ethena"),
    ("pendle", "PENDLE", "Pendle"),
    ("starknet", "STRK", "Starknet"),
    ("blur", "BLUR", "Blur"),
    ("ens", "ENS", "Ethereum Name Service"),
    ("kava", "KAVA", "Kava"),
    ("zilliqa", "ZIL", "Zilliqa"),
    ("ftx-token", "FTT", "FTX Token"),
    ("wrapped-bitcoin", "WBTC", "Wrapped Bitcoin"),
    ("weth", "WETH", "WETH"),
)
"""(CoinGecko id, symbol, name) of about a hundred large coins."""

ALIASES: dict[str, tuple[str, ...]] = {
    "XRP": ("Ripple",),
    "BNB": ("Binance Coin",),
    "USDC": ("USDC stablecoin",),
    "TRX": ("Tron",),
    "TON": ("Toncoin", "The Open Network"),
    "NEAR": ("Near Protocol",),
    "MATIC": ("Polygon network",),
    "GALA": ("Gala Games",),
    "ONE": ("Harmony protocol", "Harmony network"),
    "FLOW": ("Flow blockchain", "Flow Network"),
    "SAND": ("Sandbox",),
    "LUNA": ("Terra Luna", "TerraUSD"),
    "OP": ("Optimism Network",),
    "AVAX": ("Avalanche network",),
    "ATOM": ("Cosmos",),
    "MKR": ("MakerDAO",),
}
"""Other names of an asset, by symbol."""

STOP_SYMBOLS: frozenset[str] = frozenset(
    {
        "ONE", "SAND", "GAS", "LINK", "MANA", "OP", "NEAR", "BEAM", "FLOW", "GALA", "ROSE",
        "HOT", "MASK", "CAKE", "COMP", "BLUR", "APE", "DASH", "UNI", "DAI", "SUI", "SEI",
        "JUP", "TAO", "QNT", "ENS", "KAVA", "NEO", "ICP", "WIF", "BONK", "ONDO", "STX",
    }
)  # fmt: skip
"""Tickers that are also ordinary words, acronyms or names of other things."""

COMMON_WORD_NAMES: frozenset[str] = frozenset(
    {
        "flow", "near", "gas", "gala", "beam", "harmony", "optimism", "polygon", "avalanche",
        "terra", "stellar", "cosmos", "quant", "render", "immutable", "maker", "compound",
        "dash", "blur", "jupiter", "mantle", "holo", "stacks", "sui", "sei", "bonk", "pepe",
        "dai", "neo", "kava", "pendle", "iota", "eos", "okb", "bnb", "xrp", "floki", "weth",
    }
)  # fmt: skip
"""Asset names that are ordinary words: they count only capitalised (`Polygon`, not
`polygon`), and never when they are just the ticker written as a word (`Gala`)."""


def default_assets(updated_ts: int = 0) -> list[Asset]:
    """`DEFAULT_ASSETS` as `Asset` records, ranked in the order listed."""
    return [
        Asset(asset_id, symbol, name, updated_ts, coingecko_id=asset_id, rank=rank)
        for rank, (asset_id, symbol, name) in enumerate(DEFAULT_ASSETS, start=1)
    ]
