"""The websocket relay between planes (SPEC section 7): protocol, gateway, agent, authorization."""
