"""watchnet.api"""
