"""The draft model's life at a site, where drafting meets the ledger: every clerk's confirmation
as a labelled example (`site_data`), the nightly retraining that promotes a new model only when it
beats the serving one on the site's newest entries (`retrain`), and the draft-accuracy report
(`accuracy_report`). `drafting/` stays pure: it trains and serves, and never reads the ledger."""
