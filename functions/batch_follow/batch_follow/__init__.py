"""The batch follow-up: pending batches followed in Catalog to their end, and streamed records AEP refused
after acknowledging them, written where a person finds them."""
