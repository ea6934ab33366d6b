"""ganzoo's evaluation suite, installed as ``ganzoo.eval`` (metrics arrive with the evaluation issue)."""
