"""watchnet.store"""
