"""watchnet.api.routes"""
