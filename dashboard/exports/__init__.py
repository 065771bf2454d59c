"""Exports: `models` (Export), `services` (start, write, download rules, expiry), `scratch` (each
worker's own scratch folder), `signals` (the worker empties it at start-up and after each job),
`views`, `urls`."""
