"""Webhook delivery: Standard Webhooks signing, the durable outbox and its worker, live alerts."""
