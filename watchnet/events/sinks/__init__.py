"""watchnet.events.sinks"""
