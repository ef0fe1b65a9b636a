"""The policy every /v1 request passes: who is calling (a typed Principal), idempotent replay, rate limits,
pricing, metering and credits, request ids and the access log. State lives behind voxgate.store's
interfaces; routers reach this package through `Gateway`, `Accounts` and `call_of(request)`."""
