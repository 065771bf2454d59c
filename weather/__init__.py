"""Weather: async views that stream Open-Meteo results to the page as they arrive."""
