"""Daily reports: building a day's figures, the pages and their charts."""
