package attr

import (
	"errors"
	"strings"
)

// ErrInvalid is what every validation error is (errors.Is): a value the
// catalogue refuses. The detail is in *Errors and its *FieldError list.
var ErrInvalid = errors.New("attr: invalid value")

// Error codes of FieldError. Each has a sentence in English and in
// Traditional Chinese (FieldError.Message); Args fill its {placeholders}.
// No code's sentence, and no Args value, ever contains the value refused.
const (
	// CodeRequired: the value, or a field it needs, is empty.
	CodeRequired = "required"
	// CodeTooLong: a text is longer than Args["max"] characters.
	CodeTooLong = "too_long"
	// CodeTooManyLines: a free-text address has more than Args["max"] lines.
	CodeTooManyLines = "too_many_lines"
	// CodeTooLarge: the raw JSON exceeds MaxRawSize bytes.
	CodeTooLarge = "too_large"
	// CodeMalformed: the raw value is not JSON of the attribute's shape (a
	// number where a string belongs, an unknown member, trailing data).
	CodeMalformed = "malformed"
	// CodeInvalidCharacters: a text holds control or invisible formatting
	// characters (C0/C1 controls, bidirectional overrides, U+FFFD).
	CodeInvalidCharacters = "invalid_characters"
	// CodePhoneFormat: not a phone number eidp can read: neither 8 digits
	// (a Hong Kong number) nor + and 8 to 15 digits (E.164).
	CodePhoneFormat = "phone_format"
	// CodePhoneHKMobile: a +852 number that cannot be a Hong Kong mobile
	// number (wrong length or leading digit).
	CodePhoneHKMobile = "phone_hk_mobile"
	// CodePhoneHK: a +852 number that cannot be a Hong Kong subscriber
	// number (wrong length or leading digit).
	CodePhoneHK = "phone_hk"
	// CodeEmailFormat: not an addr-spec eidp accepts.
	CodeEmailFormat = "email_format"
	// CodeEmailLocalTooLong: more than 64 octets before the @ (RFC 5321
	// §4.5.3.1.1).
	CodeEmailLocalTooLong = "email_local_too_long"
	// CodeUnknownOption: a value not among Options for the field.
	CodeUnknownOption = "unknown_option"
	// CodeRegionMismatch: the district is not in the region given.
	CodeRegionMismatch = "region_mismatch"
	// CodeAddressIncomplete: a structured address with neither a building
	// nor a street with its number.
	CodeAddressIncomplete = "address_incomplete"
	// CodeAddressMixed: both structured fields and free text.
	CodeAddressMixed = "address_mixed"
	// CodeStreetMissing: a street number without its street.
	CodeStreetMissing = "street_missing"
)

// messages holds each code's sentence. {field} is the label of the field
// (or of the attribute, for Field ""), in the same language; other
// {placeholders} come from Args.
var messages = map[string]text{
	CodeRequired: {
		"“{field}” is required.",
		"請填寫「{field}」。"},
	CodeTooLong: {
		"Use at most {max} characters for “{field}”.",
		"「{field}」不可超過 {max} 個字元。"},
	CodeTooManyLines: {
		"Use at most {max} lines for “{field}”.",
		"「{field}」不可超過 {max} 行。"},
	CodeTooLarge: {
		"“{field}” is too large to store.",
		"「{field}」的資料過大，無法儲存。"},
	CodeMalformed: {
		"“{field}” is not in the expected form. Please fill in the form again.",
		"「{field}」的格式不正確，請重新填寫表格。"},
	CodeInvalidCharacters: {
		"“{field}” contains characters that cannot be used, such as control characters.",
		"「{field}」含有不能使用的字元（例如控制字元）。"},
	CodePhoneFormat: {
		"Enter a phone number: 8 digits for a Hong Kong number, or + then the country code and number (8 to 15 digits in all).",
		"請輸入電話號碼：香港號碼為 8 位數字；其他地區號碼請輸入「+」、國家或地區編號及號碼（合共 8 至 15 位數字）。"},
	CodePhoneHKMobile: {
		"Enter a Hong Kong mobile number of 8 digits starting with 4, 5, 6, 7, 8 or 9.",
		"請輸入以 4、5、6、7、8 或 9 字開頭的 8 位數字香港流動電話號碼。"},
	CodePhoneHK: {
		"Enter a Hong Kong phone number of 8 digits starting with 2 to 9.",
		"請輸入以 2 至 9 字開頭的 8 位數字香港電話號碼。"},
	CodeEmailFormat: {
		"Enter an email address in the form name@example.com.",
		"請按 name@example.com 的格式輸入電郵地址。"},
	CodeEmailLocalTooLong: {
		"Use at most 64 characters before the @ of the email address.",
		"電郵地址「@」之前的部分不可超過 64 個字元。"},
	CodeUnknownOption: {
		"Choose one of the options for “{field}”.",
		"請從「{field}」的選項中選擇。"},
	CodeRegionMismatch: {
		"The district chosen is not in the region chosen. Choose the region again, or leave it empty.",
		"所選的地區不屬於所選的區域。請重新選擇區域，或留空。"},
	CodeAddressIncomplete: {
		"Enter the building name, or the street name and street number.",
		"請輸入大廈名稱，或街道名稱及門牌號數。"},
	CodeAddressMixed: {
		"Enter the address either in the separate fields or as free text, not both.",
		"請以分欄或自由格式其中一種方式輸入地址，不可兩者並用。"},
	CodeStreetMissing: {
		"Enter the street that the street number belongs to.",
		"請輸入門牌號數所屬的街道名稱。"},
}

// FieldError is one reason a value was refused. It names the attribute,
// the field ("" for the value as a whole) and a Code; Message turns it into
// a sentence for the resident. It never holds the value refused.
type FieldError struct {
	Name  Name
	Field string // "" for the whole value, or a member such as "district"
	Code  string // one of the Code constants
	Args  map[string]string
}

// Message returns the sentence for the resident in lang ("en" or
// "zh-Hant"; any zh tag reads Traditional Chinese, anything else English).
func (e *FieldError) Message(lang string) string {
	t, ok := messages[e.Code]
	if !ok {
		// A code without a sentence is a programming error; say what
		// is known without inventing a sentence.
		return FieldLabel(e.Name, e.Field, lang) + ": " + e.Code
	}
	pairs := []string{"{field}", FieldLabel(e.Name, e.Field, lang)}
	for k, v := range e.Args {
		pairs = append(pairs, "{"+k+"}", v)
	}
	return strings.NewReplacer(pairs...).Replace(t.in(lang))
}

// Error returns the English sentence, prefixed with where it applies.
func (e *FieldError) Error() string {
	where := string(e.Name)
	if e.Field != "" {
		where += "." + e.Field
	}
	return "attr: " + where + ": " + e.Message(English)
}

// Is makes every FieldError an ErrInvalid.
func (e *FieldError) Is(target error) bool { return target == ErrInvalid }

// Errors is every reason a value was refused, in form order. Validate
// returns it as its error; errors.As finds it, and each *FieldError in it.
type Errors struct {
	List []*FieldError
}

// Error returns the English sentences joined.
func (e *Errors) Error() string {
	msgs := make([]string, len(e.List))
	for i, fe := range e.List {
		msgs[i] = fe.Error()
	}
	return strings.Join(msgs, "; ")
}

// Unwrap lets errors.Is and errors.As reach each FieldError.
func (e *Errors) Unwrap() []error {
	errs := make([]error, len(e.List))
	for i, fe := range e.List {
		errs[i] = fe
	}
	return errs
}

// Messages returns each sentence in lang, in order.
func (e *Errors) Messages(lang string) []string {
	msgs := make([]string, len(e.List))
	for i, fe := range e.List {
		msgs[i] = fe.Message(lang)
	}
	return msgs
}

// For returns the errors about one field ("" for the whole value).
func (e *Errors) For(field string) []*FieldError {
	var out []*FieldError
	for _, fe := range e.List {
		if fe.Field == field {
			out = append(out, fe)
		}
	}
	return out
}

// collector gathers FieldErrors for one attribute.
type collector struct {
	name Name
	list []*FieldError
}

func (c *collector) add(field, code string, args ...string) {
	fe := &FieldError{Name: c.name, Field: field, Code: code}
	if len(args) > 0 {
		fe.Args = make(map[string]string, len(args)/2)
		for i := 0; i+1 < len(args); i += 2 {
			fe.Args[args[i]] = args[i+1]
		}
	}
	c.list = append(c.list, fe)
}

func (c *collector) err() error {
	if len(c.list) == 0 {
		return nil
	}
	return &Errors{List: c.list}
}
