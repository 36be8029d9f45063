"""What the API, the CLI and the collectors read back, one module per ledger: `market`
(assets, candles, latest values, collector runs), `ranges` (candle and trade ranges
as the range endpoints serve them), `glass`, `human` and `catalyst`."""
