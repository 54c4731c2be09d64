"""watchnet.vision.models"""
