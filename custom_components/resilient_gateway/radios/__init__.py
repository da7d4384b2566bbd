"""Radios: the links to devices (Zigbee through zigpy, a simulated Zigbee network, ...).

Nothing below this package imports ``homeassistant``; a test keeps it so.
"""
