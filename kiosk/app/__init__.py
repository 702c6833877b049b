"""The kiosk window: Qt wiring of the capture flow, the screens and the services."""
