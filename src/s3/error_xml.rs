//! S3 error documents.

use quick_xml::escape::escape;

/// The XML body of an S3 error response.
pub fn error_body(code: &str, message: &str, resource: &str, request_id: &str) -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{}</Code><Message>{}</Message><Resource>{}</Resource><RequestId>{}</RequestId></Error>",
        escape(code),
        escape(message),
        escape(resource),
        escape(request_id)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resource_is_escaped() {
        let b = error_body("NotImplemented", "m", "/b/<a&b>", "1");
        assert!(b.contains("<Resource>/b/&lt;a&amp;b&gt;</Resource>"));
        assert!(b.contains("<Code>NotImplemented</Code>"));
    }
}
