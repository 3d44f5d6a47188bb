"""MCP tools for loom's runtime, with the official ``mcp`` SDK (``pip install 'loom[mcp]'``).

The runtime's ToolNodes and agents call in here for MCPTools and MCPToolBoxes;
sessions belong to the run (one per server) and close when it ends.
"""

from loom.mcp.calls import McpToolError, call_tool, list_tools
from loom.mcp.outputs import result_value, to_outputs

__all__ = ["McpToolError", "call_tool", "list_tools", "result_value", "to_outputs"]
