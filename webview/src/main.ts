// The dashboard webview's entry point (browser bundle).
export {};
