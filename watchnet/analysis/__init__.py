"""watchnet.analysis"""
