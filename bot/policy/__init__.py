"""Who is analysed (consent, roles, opt-out, jurisdiction) and how long data is kept."""
