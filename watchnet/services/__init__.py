"""The use cases (watchlist, search, alerts, exports, accounts, journeys) over the store."""
