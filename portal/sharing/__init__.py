"""Share tokens (hashed), the principal of their viewers, snapshots and the access log."""
