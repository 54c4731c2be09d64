"""watchnet.events"""
