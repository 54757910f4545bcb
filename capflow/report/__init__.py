"""The report: every table and figure of the study, and the analyses behind them."""
