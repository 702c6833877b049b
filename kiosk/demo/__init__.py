"""``fieldkit-demo``: server, broker, agent and kiosk as processes in a throwaway folder."""
