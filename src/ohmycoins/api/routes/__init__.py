"""One router per resource; `ohmycoins.api.app` mounts them under `/api/v1`."""
