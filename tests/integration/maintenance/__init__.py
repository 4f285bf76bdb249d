"""Scheduled maintenance: pruning dead rows, key rotation on a schedule, and `flask prepare`."""
