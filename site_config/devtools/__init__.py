"""Developer tooling: the `make run` launcher and the private Redis it and the tests start.
Web, worker and beat never import this package."""
