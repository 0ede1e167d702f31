"""The web entry point: Panel/Tornado server, sign-in, REST handlers, security headers.

Only entry points import it."""
