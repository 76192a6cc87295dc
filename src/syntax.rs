//! Syntax: source map, pest parser (the only place naming pest types), AST with spans, printer.
