"""Node-to-node exchange: the directory (trust list), envelopes, receipts, outbox, inbox, delivery."""
