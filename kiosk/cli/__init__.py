"""``fieldkit-kiosk``: the app's entry point and its ``capture`` / ``scan`` tools."""
