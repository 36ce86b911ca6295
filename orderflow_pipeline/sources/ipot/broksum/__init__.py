"""`orderflow fetch-broksum`: IPOT broker summaries into the lake's `raw-broksum/` (SPEC §8).

`fetch` asks the feed and drives the retries, `render` turns an answer's rows into the file,
`write` keeps the better of a new and an existing file, `brokers` is the shipped broker table.
"""
