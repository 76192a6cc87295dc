//! Comments are skipped by the grammar; they are collected here and attached to items and slots.

use super::ast::*;

/// Every comment of the source, in order (strings are skipped).
pub fn scan(src: &str) -> Vec<Comment> {
    let mut out = Vec::new();
    let bytes = src.as_bytes();
    let (mut i, mut in_str) = (0, false);
    while i < bytes.len() {
        let b = bytes[i];
        if in_str {
            match b {
                b'\\' => i += 1,
                b'"' | b'\n' => in_str = false,
                _ => {}
            }
            i += 1;
            continue;
        }
        match b {
            b'"' => {
                in_str = true;
                i += 1;
            }
            b'#' => {
                let end = src[i..].find('\n').map(|k| i + k).unwrap_or(src.len());
                let doc = src[i..].starts_with("##");
                let text = &src[i + if doc { 2 } else { 1 }..end];
                out.push(Comment {
                    text: text.trim_end().to_string(),
                    doc,
                    span: Sp::new(i, end),
                });
                i = end;
            }
            _ => i += 1,
        }
    }
    out
}

fn same_line(src: &str, a: usize, b: usize) -> bool {
    a <= b && !src[a.min(src.len())..b.min(src.len())].contains('\n')
}

/// Attach comments: inside an item → moved before it (or into its agent entries); on the line
/// where an item/entry ends → trailing; otherwise → leading of the next item/entry.
pub fn attach(src: &str, file: &mut File) {
    let comments = scan(src);
    let mut trailing_file = Vec::new();
    for c in comments {
        let pos = c.span.start;
        // item containing it
        if let Some(it) = file
            .items
            .iter_mut()
            .find(|it| it.span.start <= pos && pos < it.span.end)
        {
            match &mut it.kind {
                ItemKind::Agent(a) => attach_entry(src, a, c),
                _ => it.comments.push(c),
            }
            continue;
        }
        let prev = file.items.iter_mut().rev().find(|it| it.span.end <= pos);
        if let Some(prev) = prev
            && prev.trailing.is_none()
            && !c.doc
            && same_line(src, prev.span.end, pos)
        {
            prev.trailing = Some(c);
            continue;
        }
        match file.items.iter_mut().find(|it| it.span.start > pos) {
            Some(next) => next.comments.push(c),
            None => trailing_file.push(c),
        }
    }
    file.trailing_comments = trailing_file;
}

fn attach_entry(src: &str, a: &mut Agent, c: Comment) {
    let pos = c.span.start;
    if let Some(e) = a
        .entries
        .iter_mut()
        .find(|e| e.span.start <= pos && pos < e.span.end)
    {
        e.comments.push(c);
        return;
    }
    if let Some(prev) = a.entries.iter_mut().rev().find(|e| e.span.end <= pos)
        && prev.trailing.is_none()
        && same_line(src, prev.span.end, pos)
    {
        prev.trailing = Some(c);
        return;
    }
    match a.entries.iter_mut().find(|e| e.span.start > pos) {
        Some(next) => next.comments.push(c),
        None => a.end_comments.push(c),
    }
}
