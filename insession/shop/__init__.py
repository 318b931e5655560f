"""`insession shop`: a small storefront on localhost that talks to the engine through
`insession.client`, to see in-session personalisation happen (`docs/shop.md`)."""
