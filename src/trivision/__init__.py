"""trivision: face gender, fine-grained cars and colorization, trained and used on a laptop CPU or at scale."""
__version__ = "0.1.0"
