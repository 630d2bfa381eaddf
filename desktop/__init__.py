"""The pneumonia-xray desktop application: Qt-free modules and the headless commands here
(``cli``), the PySide6 window in :mod:`desktop.qt`."""
