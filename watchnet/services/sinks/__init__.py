"""watchnet.services.sinks"""
