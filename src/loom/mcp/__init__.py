"""MCP tools for loom's runtime, with the official ``mcp`` SDK (``pip install 'loom[mcp]'``).

The runtime's ToolNodes and agents call in here for MCPTools and MCPToolBoxes;
sessions belong to the run (one per server) and close when it ends.
"""

from loom.mcp.calls import McpToolError, call_tool, list_tools
from loom.mcp.outputs import result_value
from loom.mcp.sdk import sdk as require_sdk
from loom.mcp.sessions import STARTUP_TIMEOUT, Sessions
from loom.mcp.toolbox import select

__all__ = ["STARTUP_TIMEOUT", "McpToolError", "Sessions", "call_tool", "list_tools", "require_sdk",
           "result_value", "select"]
