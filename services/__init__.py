"""Domain rules shared by the API and the console; the only code that commits."""
