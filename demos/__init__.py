"""One gr.Blocks per application. No model code here: each tab calls core.apps and maps core's errors to gr.Error."""
