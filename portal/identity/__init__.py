"""Who is asking: accounts, passwords, tokens, web sessions, the Principal and its scope,
authorization and audit."""
