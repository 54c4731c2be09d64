"""watchnet.web"""
