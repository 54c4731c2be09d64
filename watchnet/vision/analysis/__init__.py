"""watchnet.vision.analysis"""
