"""watchnet.models"""
