"""`trivision serve`: a FastAPI app with one page and a JSON endpoint per task (serve/app.py)."""
