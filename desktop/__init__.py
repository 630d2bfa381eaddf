"""The pneumonia-xray desktop application (PySide6) and its headless batch command."""
