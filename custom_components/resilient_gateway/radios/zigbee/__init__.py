"""Zigbee radios driven through zigpy and its radio libraries."""
