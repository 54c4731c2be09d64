"""watchnet.sources"""
